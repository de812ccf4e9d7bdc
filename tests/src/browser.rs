//! A real headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`; `scripts/test` installs them): one `chromedriver`
//! per test on a free loopback port, and screenshots under `target/`.

use std::{path::PathBuf, process::Stdio, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::process::{Child, Command};

/// A browser session and the driver process behind it (killed on drop).
#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    _driver: Child,
    _profile: tempdir::Dir,
    shots: PathBuf,
}

mod tempdir {
    /// A directory removed on drop (the browser's profile).
    #[derive(Debug)]
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium that asks for English
    /// pages; `name` names the screenshot folder
    /// (`target/console-screenshots/<name>/`).
    pub async fn start(name: &str) -> Self {
        Self::start_in(name, "en-US,en").await
    }

    /// [`Browser::start`] with the browser's `Accept-Language`.
    pub async fn start_in(name: &str, accept_language: &str) -> Self {
        // The WebDriver connection is plain HTTP on loopback, but the client
        // is built with rustls, which wants its provider chosen once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        let driver = Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver must be installed (scripts/test installs chromium-driver)");
        let profile = std::env::temp_dir().join(format!("console-chromium-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1280,1024",
                         format!("--user-data-dir={}", profile.display())],
                "prefs": {"intl.accept_languages": accept_language},
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let client = loop {
            match ClientBuilder::rustls().expect("TLS roots").capabilities(caps.clone()).connect(&url).await {
                Ok(client) => break client,
                Err(e) if tokio::time::Instant::now() > deadline => panic!("no WebDriver session: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"), PathBuf::from);
        let shots = target.join("console-screenshots").join(name);
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        Self { client, _driver: driver, _profile: tempdir::Dir(profile), shots }
    }

    /// Saves a PNG of the window as `<step>.png`; returns its path.
    pub async fn screenshot(&self, step: &str) -> PathBuf {
        let path = self.shots.join(format!("{step}.png"));
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(&path, png);
        }
        path
    }

    /// The visible text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.expect("text")
    }

    /// The visible text of the first element matching `css`, if there is one yet.
    pub async fn try_text(&self, css: &str) -> Option<String> {
        self.client.find(Locator::Css(css)).await.ok()?.text().await.ok()
    }

    /// Waits until the first element matching `css` shows text containing
    /// `part` (the page after a navigation may still be loading); its text.
    pub async fn wait_for_text(&self, css: &str, part: &str) -> String {
        let what = format!("{css} to show {part:?}");
        self.wait_for(15, &what, || async { self.try_text(css).await.is_some_and(|t| t.contains(part)) }).await;
        self.text(css).await
    }

    /// Waits (at most `secs`) until `check` of the page holds; on time out,
    /// takes a screenshot named `failed-<what>` and panics.
    pub async fn wait_for<F, Fut>(&self, secs: u64, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !check().await {
            if tokio::time::Instant::now() > deadline {
                let shot = self.screenshot(&format!("failed-{}", what.replace(' ', "-"))).await;
                panic!("timed out waiting for {what}; screenshot: {}", shot.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Browser {
    /// Presses Tab (at most `max` times) until the focused element matches
    /// `css`, as a keyboard user moves through a page; panics with a
    /// screenshot if it is never reached.
    pub async fn tab_to(&self, css: &str, max: usize) {
        let tab = String::from(char::from(fantoccini::key::Key::Tab));
        let check = format!("return document.activeElement && document.activeElement.matches({css:?});");
        for _ in 0..max {
            let focused = self.client.active_element().await.expect("a focused element");
            focused.send_keys(&tab).await.expect("Tab");
            if self.client.execute(&check, vec![]).await.expect("script") == serde_json::json!(true) {
                return;
            }
        }
        let shot = self.screenshot(&format!("failed-tab-to-{}", css.replace([' ', '/', '\''], "_"))).await;
        panic!("{css} cannot be reached with Tab; screenshot: {}", shot.display());
    }

    /// Types into, or presses a key on, the focused element.
    pub async fn keys(&self, text: &str) {
        self.client.active_element().await.expect("a focused element").send_keys(text).await.expect("keys");
    }

    /// The Enter key, as a string for [`Browser::keys`].
    pub fn enter() -> String {
        String::from(char::from(fantoccini::key::Key::Enter))
    }
}

/// The axe-core build `scripts/test` installs (`npm ci` in `tests/browser/`).
fn axe_source() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("browser/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `npm ci --prefix tests/browser`)", path.display()))
}

impl Browser {
    /// Runs axe-core on the page shown and panics (with a screenshot) on any
    /// serious or critical violation, naming the rule and the elements.
    pub async fn check_accessibility(&self, page: &str) {
        self.client.execute(&format!("{}\nreturn true;", axe_source()), vec![]).await.expect("axe-core loads");
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                    .then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                        .map(v => v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                    .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .expect("axe-core runs");
        let violations: Vec<String> = serde_json::from_value(result).expect("a list of violations");
        if !violations.is_empty() {
            let shot = self.screenshot(&format!("failed-accessibility-{page}")).await;
            panic!(
                "{page}: serious or critical accessibility violations: {violations:#?}; screenshot {}",
                shot.display()
            );
        }
    }
}
