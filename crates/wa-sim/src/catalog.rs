//! The templates of each WABA, replaceable while the simulator runs (as
//! templates are created, paused or deleted in Meta's Business Manager).

use std::{collections::HashMap, sync::Arc};

use crate::config::{TemplateConfig, WabaConfig};

/// (waba_id, name, language).
type Key = (String, String, String);

/// A template as listed, with its Meta id.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub id: String,
    pub template: Arc<TemplateConfig>,
}

#[derive(Debug, Default)]
pub(crate) struct Catalog {
    /// Per WABA, in listing order.
    wabas: HashMap<String, Vec<Listed>>,
    /// Sends look templates up by key.
    by_key: HashMap<Key, Arc<TemplateConfig>>,
    /// Like Meta's, a template keeps its id when the list around it changes,
    /// and gets the same one back if it is removed and added again.
    ids: HashMap<Key, String>,
    issued: HashMap<String, u64>,
}

impl Catalog {
    pub fn new(wabas: &[WabaConfig]) -> Self {
        let mut catalog = Self::default();
        for waba in wabas {
            catalog.set(&waba.waba_id, waba.templates.clone());
        }
        catalog
    }

    /// Replaces every template of `waba_id`.
    pub fn set(&mut self, waba_id: &str, templates: Vec<TemplateConfig>) {
        self.by_key.retain(|(waba, _, _), _| waba != waba_id);
        let mut listed = Vec::with_capacity(templates.len());
        for template in templates {
            let key = (waba_id.to_owned(), template.name.clone(), template.language.clone());
            let id = match self.ids.get(&key) {
                Some(id) => id.clone(),
                None => {
                    // `{waba_id}0001`, `{waba_id}0002`, ... in the order first seen.
                    let n = self.issued.entry(waba_id.to_owned()).or_default();
                    *n += 1;
                    let id = format!("{waba_id}{n:04}");
                    self.ids.insert(key.clone(), id.clone());
                    id
                }
            };
            let template = Arc::new(template);
            self.by_key.insert(key, template.clone());
            listed.push(Listed { id, template });
        }
        self.wabas.insert(waba_id.to_owned(), listed);
    }

    pub fn get(&self, waba_id: &str, name: &str, language: &str) -> Option<Arc<TemplateConfig>> {
        self.by_key.get(&(waba_id.to_owned(), name.to_owned(), language.to_owned())).cloned()
    }

    pub fn listing(&self, waba_id: &str) -> Vec<Listed> {
        self.wabas.get(waba_id).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::Catalog;
    use crate::config::{TemplateConfig, WabaConfig};

    fn template(name: &str) -> TemplateConfig {
        serde_json::from_value(serde_json::json!({"name": name, "language": "en_US", "body": "Hi {{1}}"}))
            .expect("template config")
    }

    #[test]
    fn ids_survive_replacing_the_list() {
        let mut catalog = Catalog::new(&[WabaConfig {
            waba_id: "9".into(),
            business_id: None,
            business_name: None,
            templates: vec![template("a"), template("b")],
        }]);
        let ids = |c: &Catalog| c.listing("9").into_iter().map(|l| (l.template.name.clone(), l.id)).collect::<Vec<_>>();
        assert_eq!(ids(&catalog), [("a".into(), "90001".into()), ("b".into(), "90002".into())]);
        catalog.set("9", vec![template("b"), template("c")]);
        assert_eq!(ids(&catalog), [("b".into(), "90002".into()), ("c".into(), "90003".into())]);
        assert!(catalog.get("9", "a", "en_US").is_none(), "a removed template cannot be sent");
        catalog.set("9", vec![template("a")]);
        assert_eq!(ids(&catalog), [("a".into(), "90001".into())]);
    }
}
