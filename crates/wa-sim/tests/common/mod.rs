//! Shared fixtures: a programmatic config, a started simulator and a client.

#![allow(dead_code)] // each test binary uses a different subset

use std::time::{Duration, Instant};

use wa_sim::{
    Config, Simulator,
    config::{HeaderFormat, NumberConfig, ParameterFormat, TemplateConfig, WabaConfig},
};
use whatsapp::{
    ClientConfig, CloudClient, SendError,
    send::{Component, HeaderParameter, Language, MediaSource, SendTemplateRequest, Template, TextParameter},
};

pub const PNID: &str = "1001";
pub const WABA: &str = "2001";
pub const TOKEN: &str = "token-1";
pub const SECRET: &str = "secret-1";
pub const DISPLAY: &str = "15550001111";

pub fn template(name: &str, status: &str, body: &str) -> TemplateConfig {
    TemplateConfig {
        name: name.to_owned(),
        language: "en_US".to_owned(),
        status: status.to_owned(),
        category: "MARKETING".to_owned(),
        parameter_format: ParameterFormat::Positional,
        header_format: None,
        header_text: None,
        body: body.to_owned(),
        footer: None,
        quick_replies: Vec::new(),
    }
}

/// A number with the config's defaults for what it reports about itself.
pub fn number(phone_number_id: &str, waba_id: &str, access_token: &str, display: &str) -> NumberConfig {
    NumberConfig {
        phone_number_id: phone_number_id.to_owned(),
        display_phone_number: display.to_owned(),
        waba_id: waba_id.to_owned(),
        access_token: access_token.to_owned(),
        app_secret: format!("secret-of-{phone_number_id}"),
        throughput_per_second: 80.0,
        verified_name: "Simulated Business".to_owned(),
        quality_rating: "GREEN".to_owned(),
        messaging_limit_tier: "TIER_10K".to_owned(),
    }
}

pub fn config() -> Config {
    let mut named = template("named_promo", "APPROVED", "Hi {{first_name}}, use {{code}}");
    named.parameter_format = ParameterFormat::Named;
    let mut with_image = template("image_promo", "APPROVED", "Hi {{1}}");
    with_image.header_format = Some(HeaderFormat::Image);
    let mut config = Config::default();
    config.numbers.push(NumberConfig {
        app_secret: SECRET.to_owned(),
        throughput_per_second: 10_000.0,
        ..number(PNID, WABA, TOKEN, DISPLAY)
    });
    config.wabas.push(WabaConfig {
        waba_id: WABA.to_owned(),
        business_id: None,
        business_name: None,
        templates: vec![
            template("hello", "APPROVED", "Hi {{1}}, your code is {{2}}"),
            template("paused_promo", "PAUSED", "Hi {{1}}"),
            template("disabled_promo", "DISABLED", "Hi {{1}}"),
            template("pending_promo", "PENDING", "Hi {{1}}"),
            named,
            with_image,
        ],
    });
    config
}

pub async fn start(config: Config) -> (Simulator, CloudClient) {
    let sim = Simulator::start(config).await.expect("simulator starts");
    let client =
        CloudClient::new(ClientConfig { base_url: sim.base_url(), ..ClientConfig::default() }).expect("client builds");
    (sim, client)
}

pub fn request(to: &str, name: &str, params: &[&str]) -> SendTemplateRequest {
    let parameters = params.iter().map(|p| TextParameter::positional(*p)).collect();
    SendTemplateRequest {
        to: to.to_owned(),
        template: Template {
            name: name.to_owned(),
            language: Language { code: "en_US".to_owned() },
            components: vec![Component::Body { parameters }],
        },
        biz_opaque_callback_data: None,
    }
}

pub fn image_header(link: &str) -> Component {
    Component::Header { parameters: vec![HeaderParameter::Image { image: MediaSource::Link(link.to_owned()) }] }
}

/// The Graph error code and HTTP status of a failed send.
pub fn code_of(error: &SendError) -> (i64, u16) {
    match error {
        SendError::NotSent { cause: whatsapp::NotSent::Graph { status, error, .. } } => (error.code, *status),
        other => panic!("expected a Graph error, got {other:?}"),
    }
}

/// Polls `check` until it returns `Some` or the deadline passes.
pub async fn eventually<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "condition not met within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
