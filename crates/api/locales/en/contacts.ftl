# Contacts: the list and its filters, the CSV import with its per-row report, a contact's page.
contacts-title = Contacts
contacts-all = All contacts
contacts-filter-q = Phone or name
contacts-filter-tags = Tags (comma-separated)
contacts-filter-valued-tags-before = Valued tags (
contacts-filter-valued-tags-after = , comma-separated)
contacts-filter = Filter
contacts-clear-filters = Clear filters
contacts-empty-filtered = No contact matches these filters.
contacts-empty = There are no contacts yet: import a CSV file above.
contacts-phone = Phone
contacts-name = Name
contacts-tags = Tags
contacts-valued-tags = Valued tags
contacts-status = Status
contacts-next-page = Next page
contacts-status-opted-out = Opted out
contacts-status-inbox-open = Inbox case open since { $at }
import-heading = Import a CSV file
import-columns = Columns:
import-phone-required = (required, E.164),
import-tags-separated-by = (separated by
import-and-one = ) and one
import-column-per-valued-tag = column per valued tag. Every row is imported, or none.
import-file = CSV file
import-button = Import
import-done = Imported { $rows ->
    [one] 1 row
   *[other] { $rows } rows
}: { $created ->
    [one] 1 contact
   *[other] { $created } contacts
} created, { $updated } updated.
import-nothing-imported = Nothing was imported: { $message }
import-rows-caption = Rows that need fixing (line numbers count the header as line 1)
import-line = Line
import-column = Column
import-problem = Problem
import-choose-corrected = Choose the corrected file
contact-back = ← All contacts
contact-tags = Tags
contact-opt-out = Opt-out
contact-opted-out = Opted out: no campaign sends to this contact
contact-not-opted-out = Not opted out
contact-inbox = Open inbox case
contact-inbox-none = None
contact-inbox-since = Since { $at }
contact-since = Contact since
contact-valued-tags = Valued tags
contact-valued-tags-none = None.
contact-key = Key
contact-value = Value
contact-campaigns = Campaigns
contact-campaigns-empty = This contact has not been in a campaign.
contact-campaigns-caption = Campaigns this contact was in
contact-campaign = Campaign
contact-kind = Kind
contact-outcome = Outcome
contact-reason = Reason
contact-planned = Planned
contact-kind-test = Test
contact-kind-real = Real
