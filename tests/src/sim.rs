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

/// One number on one WABA with [`templates`]; no webhooks.
pub fn config() -> Config {
    Config {
        numbers: vec![NumberConfig {
            phone_number_id: PHONE_NUMBER_ID.to_owned(),
            display_phone_number: "34910000001".to_owned(),
            waba_id: WABA_ID.to_owned(),
            access_token: ACCESS_TOKEN.to_owned(),
            app_secret: APP_SECRET.to_owned(),
            throughput_per_second: 80.0,
        }],
        wabas: vec![WabaConfig { waba_id: WABA_ID.to_owned(), templates: templates() }],
        ..Config::default()
    }
}
