//! The WhatsApp Cloud API every test app talks to: an in-process `wa-sim`
//! with one business number and a set of templates covering each shape the
//! campaign rules care about.

use wa_sim::config::{Config, HeaderFormat, NumberConfig, ParameterFormat, TemplateConfig, WabaConfig};

/// Meta's ids and secrets of the simulated number.
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const WABA_ID: &str = "102290129340398";
pub const DISPLAY_NUMBER: &str = "+34 910 00 00 01";
pub const ACCESS_TOKEN: &str = "EAAGm0PX4ZCpsBAKZCsim-token";
pub const APP_SECRET: &str = "0123456789abcdefsim-app-secret";
/// The business name Meta shows for it.
pub const VERIFIED_NAME: &str = "Acme Test";

/// A second business's number, on a WABA of its own: what another
/// organization of the same deployment registers.
pub const OTHER_PHONE_NUMBER_ID: &str = "106540352242933";
pub const OTHER_WABA_ID: &str = "102290129340399";
pub const OTHER_ACCESS_TOKEN: &str = "EAAGm0PX4ZCpsBAKZCother-token";
pub const OTHER_APP_SECRET: &str = "0123456789abcdefother-app-secret";

/// A template as the simulator lists it.
pub fn template(name: &str, language: &str, body: &str) -> TemplateConfig {
    TemplateConfig {
        name: name.to_owned(),
        language: language.to_owned(),
        status: "APPROVED".to_owned(),
        category: "MARKETING".to_owned(),
        parameter_format: ParameterFormat::Positional,
        header_format: None,
        header_text: None,
        body: body.to_owned(),
        footer: None,
        quick_replies: Vec::new(),
    }
}

/// The templates of [`WABA_ID`]:
/// - `order_update` (en_US): two positional body parameters;
/// - `order_update` (es): the same in Spanish;
/// - `promo_image` (en_US): an IMAGE header and one body parameter;
/// - `promo_video` (en_US): a VIDEO header, no parameters;
/// - `welcome_named` (en_US): NAMED parameters `first_name` and `discount_code`;
/// - `flash_sale` (en_US): a TEXT header with `{{1}}` and one body parameter;
/// - `contract` (en_US): a DOCUMENT header;
/// - `old_promo` (en_US): PAUSED; `draft_promo` (en_US): PENDING.
pub fn templates() -> Vec<TemplateConfig> {
    let mut promo_image = template("promo_image", "en_US", "Hi {{1}}, this week only!");
    promo_image.header_format = Some(HeaderFormat::Image);
    promo_image.quick_replies = vec!["Tell me more".to_owned(), "Stop promotions".to_owned()];
    let mut promo_video = template("promo_video", "en_US", "Watch our new collection");
    promo_video.header_format = Some(HeaderFormat::Video);
    let mut welcome = template("welcome_named", "en_US", "Hi {{first_name}}, use {{discount_code}} today");
    welcome.parameter_format = ParameterFormat::Named;
    let mut flash = template("flash_sale", "en_US", "Hello {{1}}, everything is half price");
    flash.header_format = Some(HeaderFormat::Text);
    flash.header_text = Some("Flash sale in {{1}}".to_owned());
    let mut contract = template("contract", "en_US", "Your contract is attached");
    contract.header_format = Some(HeaderFormat::Document);
    let mut paused = template("old_promo", "en_US", "Old promo {{1}}");
    paused.status = "PAUSED".to_owned();
    let mut pending = template("draft_promo", "en_US", "Draft {{1}}");
    pending.status = "PENDING".to_owned();
    vec![
        template("order_update", "en_US", "Hi {{1}}, your order {{2}} is ready"),
        template("order_update", "es", "Hola {{1}}, tu pedido {{2}} está listo"),
        promo_image,
        promo_video,
        welcome,
        flash,
        contract,
        paused,
        pending,
    ]
}

/// The [`PHONE_NUMBER_ID`] number on [`WABA_ID`] with [`templates`], and
/// the [`OTHER_PHONE_NUMBER_ID`] number on [`OTHER_WABA_ID`] with the same
/// templates; no webhooks.
pub fn config() -> Config {
    let number = |phone_number_id: &str, display: &str, waba_id: &str, token: &str, secret: &str| NumberConfig {
        phone_number_id: phone_number_id.to_owned(),
        display_phone_number: display.to_owned(),
        waba_id: waba_id.to_owned(),
        access_token: token.to_owned(),
        app_secret: secret.to_owned(),
        throughput_per_second: 80.0,
        verified_name: VERIFIED_NAME.to_owned(),
        quality_rating: "GREEN".to_owned(),
        messaging_limit_tier: "TIER_10K".to_owned(),
    };
    Config {
        numbers: vec![
            number(PHONE_NUMBER_ID, "34910000001", WABA_ID, ACCESS_TOKEN, APP_SECRET),
            number(OTHER_PHONE_NUMBER_ID, "34910000002", OTHER_WABA_ID, OTHER_ACCESS_TOKEN, OTHER_APP_SECRET),
        ],
        wabas: vec![
            WabaConfig { waba_id: WABA_ID.to_owned(), business_id: None, business_name: None, templates: templates() },
            WabaConfig {
                waba_id: OTHER_WABA_ID.to_owned(),
                business_id: None,
                business_name: None,
                templates: templates(),
            },
        ],
        ..Config::default()
    }
}
