//! Console accounts for tests, and a browser-like HTTP client that keeps
//! cookies and does not follow redirects (to see where each one leads).

use store::{OrgId, operators};

use crate::TestApp;

/// An operator account of the app's organization (or `org`).
#[derive(Debug, Clone)]
pub struct Account {
    pub email: String,
    pub password: String,
}

impl TestApp {
    /// Creates a console account with a fresh password.
    pub async fn operator(&self, org: OrgId, email: &str, role: operators::Role) -> Account {
        let password = operators::generate_password();
        let hash = operators::hash_password(&password);
        operators::create(&self.pg, org, email, role, &hash).await.expect("operator account");
        Account { email: email.to_owned(), password }
    }

    /// A client with its own cookie jar that stops at redirects.
    pub fn browser_client() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Signs `account` in with `client` (as the sign-in form does); returns the
    /// session's CSRF token, read off the page it lands on.
    pub async fn sign_in(&self, client: &reqwest::Client, account: &Account) -> String {
        let page = client.get(self.url("/console/sign-in")).send().await.expect("sign-in page");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("html");
        let token = hidden(&html, "token").expect("the sign-in form's token");
        let resp = client
            .post(self.url("/console/sign-in"))
            .form(&[("email", account.email.as_str()), ("password", account.password.as_str()), ("token", &token)])
            .send()
            .await
            .expect("sign in");
        assert_eq!(resp.status(), 303, "signed in and redirected");
        let html = client.get(self.url("/console/campaigns")).send().await.expect("list").text().await.expect("html");
        hidden(&html, "csrf").expect("the session's CSRF token on its pages")
    }
}

/// The value of the first hidden input named `name` in a page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}
