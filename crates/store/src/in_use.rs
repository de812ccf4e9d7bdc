//! Deleting something campaigns point at (a bot flow, a header media): refused
//! while a campaign that is scheduled or sending uses it; the others just lose
//! the reference.

/// A campaign that uses the thing being deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRef {
    pub id: i64,
    pub name: String,
    /// `editable`, `scheduled`, `active` or `finished`.
    pub lifecycle: String,
}

impl CampaignRef {
    /// A scheduled or active campaign needs what it points at to send.
    pub fn is_running(&self) -> bool {
        matches!(self.lifecycle.as_str(), "scheduled" | "active")
    }
}

/// The outcome of a delete that campaigns may block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Deleted,
    NotFound,
    /// Nothing was changed: these scheduled or active campaigns use it.
    InUse(Vec<CampaignRef>),
}
