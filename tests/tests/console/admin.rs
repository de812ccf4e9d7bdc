//! An admin in the browser: the console in Spanish (from the browser's
//! language, then the account's choice), accounts created with a one-time
//! password and disabled, API keys created (shown once) and revoked.

use e2e::{TestApp, browser::Browser, console::Account};
use fantoccini::Locator;
use sqlx::PgPool;
use store::operators::Role;

async fn html_lang(browser: &Browser) -> String {
    let lang = browser.client.find(Locator::Css("html")).await.unwrap().attr("lang").await.unwrap();
    lang.unwrap_or_default()
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn an_admin_uses_the_console_in_spanish_and_manages_accounts_and_api_keys(pg: PgPool) {
    let app = TestApp::spawn(pg).await;
    let admin = app.operator(app.org, "marta@acme.example", Role::Admin).await;
    let browser = Browser::start_in("admin", "es-ES,es;q=0.9").await;
    let c = &browser.client;

    // The browser asks for Spanish: the sign-in page is in Spanish.
    c.goto(&app.url("/console/sign-in")).await.unwrap();
    assert_eq!(browser.text("h1").await, "Entrar en Campañas");
    assert_eq!(html_lang(&browser).await, "es");
    browser.check_accessibility("sign-in-es").await;
    c.find(Locator::Css("#email")).await.unwrap().send_keys(&admin.email).await.unwrap();
    c.find(Locator::Css("#password")).await.unwrap().send_keys("no es la contraseña").await.unwrap();
    c.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait_for_text(".error-summary", "El correo o la contraseña no son correctos.").await;
    c.find(Locator::Css("#password")).await.unwrap().send_keys(&admin.password).await.unwrap();
    c.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("nav", "Campañas").await;
    assert!(browser.text("nav").await.contains("Contactos"));

    // The account's choice wins over the browser's: English, then Spanish again.
    c.find(Locator::LinkText("Ajustes")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("h1", "Ajustes").await;
    browser.check_accessibility("settings-es").await;
    c.find(Locator::Css("#locale")).await.unwrap().select_by_value("en").await.unwrap();
    c.find(Locator::Css("form[action$='/settings/language'] button")).await.unwrap().click().await.unwrap();
    browser.wait_for_text(".notice", "The language of your account is saved.").await;
    assert_eq!((browser.text("h1").await.as_str(), html_lang(&browser).await.as_str()), ("Settings", "en"));
    c.find(Locator::Css("#locale")).await.unwrap().select_by_value("es").await.unwrap();
    c.find(Locator::Css("form[action$='/settings/language'] button")).await.unwrap().click().await.unwrap();
    browser.wait_for_text(".notice", "Se ha guardado el idioma de tu cuenta.").await;
    assert_eq!(html_lang(&browser).await, "es");

    // A new account, with its one-time password shown once.
    c.find(Locator::Css("#new-email")).await.unwrap().send_keys("Luis@Acme.example").await.unwrap();
    c.find(Locator::Css("#new-role")).await.unwrap().select_by_value("operator").await.unwrap();
    c.find(Locator::Css("form[action='/console/accounts'] button")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("h1", "Cuenta creada").await;
    assert!(browser.text("main").await.contains("luis@acme.example"));
    browser.screenshot("account-created").await;
    browser.check_accessibility("account-created").await;
    let password = c.find(Locator::Css("#secret")).await.unwrap().prop("value").await.unwrap().unwrap();
    assert_eq!(password.len(), 16, "{password}");
    let luis = Account { email: "luis@acme.example".into(), password };
    let theirs = TestApp::browser_client();
    app.sign_in(&theirs, &luis).await;
    assert_eq!(
        theirs.get(app.url("/console/campaigns")).send().await.unwrap().status(),
        200,
        "the new account signs in with it"
    );

    // Disabling it signs it out at once.
    c.find(Locator::LinkText("Volver a los ajustes")).await.unwrap().click().await.unwrap();
    let row = browser.wait_for_text("#accounts ~ table tbody", "luis@acme.example").await;
    assert!(row.contains("Eres tú"), "the admin's own row cannot be disabled: {row}");
    c.find(Locator::Css("form[action$='/disable'] button")).await.unwrap().click().await.unwrap();
    let question = c.get_alert_text().await.unwrap();
    assert!(question.contains("¿Desactivar luis@acme.example?"), "{question}");
    c.accept_alert().await.unwrap();
    browser.wait_for_text(".notice", "La cuenta está desactivada").await;
    let after = theirs.get(app.url("/console/campaigns")).send().await.unwrap();
    assert_eq!(after.status(), 303, "signed out: sent to sign in");

    // An API key, shown once; it works until it is revoked.
    c.find(Locator::Css("#key-name")).await.unwrap().send_keys("CRM sync").await.unwrap();
    c.find(Locator::Css("form[action='/console/api-keys'] button")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("h1", "Clave de API creada").await;
    let secret = c.find(Locator::Css("#secret")).await.unwrap().prop("value").await.unwrap().unwrap();
    let with_key = || app.http.get(app.url("/v1/campaigns")).bearer_auth(&secret).send();
    assert_eq!(with_key().await.unwrap().status(), 200, "the key works");
    c.find(Locator::LinkText("Volver a los ajustes")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("#api-keys ~ table tbody", "CRM sync").await;
    let buttons = c.find_all(Locator::Css("form[action$='/revoke'] button")).await.unwrap();
    let mut clicked = false;
    for b in buttons {
        if b.text().await.unwrap().contains("CRM sync") {
            b.click().await.unwrap();
            clicked = true;
            break;
        }
    }
    assert!(clicked, "a Revoke button for the new key");
    c.accept_alert().await.unwrap();
    browser.wait_for_text(".notice", "La clave de API «CRM sync» está revocada.").await;
    assert_eq!(with_key().await.unwrap().status(), 401, "revoked at once");
    browser.check_accessibility("settings-admin-es").await;

    // The campaign pages and the wizard speak Spanish too.
    c.find(Locator::LinkText("Campañas")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("h1", "Campañas").await;
    assert!(browser.text("main").await.contains("Aún no hay campañas."));
    browser.check_accessibility("campaign-list-es").await;
    c.find(Locator::LinkText("Nueva campaña")).await.unwrap().click().await.unwrap();
    browser
        .wait_for(10, "the wizard", || async { c.current_url().await.unwrap().path() == "/console/campaigns/new" })
        .await;
    assert_eq!(html_lang(&browser).await, "es");
    browser.screenshot("wizard-es").await;
    browser.check_accessibility("wizard-es").await;
    c.clone().close().await.unwrap();
}
