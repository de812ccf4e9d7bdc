# The campaign wizard: basics, audience, message, bot flow and pace, review, preview.

## The steps and every step's page
wizard-step-basics = Basic settings
wizard-step-audience = Audience
wizard-step-message = Template and message
wizard-step-bot = Bot flow and pace
wizard-step-review = Review and send
wizard-steps-label = Wizard steps
wizard-step-problems = ({ $count } to fix)
wizard-draft-not-ready = This draft is not ready yet
wizard-new-campaign = New campaign
wizard-new-test-campaign = New test campaign
wizard-all-campaigns = ← All campaigns
wizard-campaign-page = Campaign page
wizard-not-saved = This could not be saved
wizard-save-and-continue = Save and continue
wizard-save-draft = Save draft
wizard-saved = Saved.
wizard-saved-as-draft = The campaign was saved as a Draft.
wizard-settings-link = Settings

## Basic settings
wizard-name-label = Campaign name
wizard-kind = Kind
wizard-kind-real = Real: to an audience chosen by tags
wizard-kind-test = Test: to a few test contacts
wizard-number-label = WhatsApp number to send from
wizard-number-choose = Choose a number
wizard-number-unverified-name = unverified name
# Followed by a link to Settings, then by "(or with" and the API call.
wizard-numbers-empty = No number is registered yet: an admin registers one in
wizard-numbers-empty-api = (or with

## Audience
wizard-audience-fixed = This campaign retries a fixed list of { $count } contact(s) of another campaign, whose failure was worth retrying; its audience cannot change. To reach contacts by tags, create a new campaign.
wizard-test-phones-label = Test phones (one per line; each must be a contact)
wizard-tags-label = Tags (separated by commas)
# Around <code>key=value</code>.
wizard-valued-tags-label = Valued tags (one
wizard-valued-tags-label-end = per line)
wizard-match-legend = Contacts must match
wizard-match-all = all of the tags and valued tags
wizard-match-any = any of them
wizard-audience-matches = { $count ->
    [one] 1 contact matches this audience
   *[other] { $count } contacts match this audience
}
wizard-audience-count-note = (as saved; opted-out and other excluded contacts are counted in the review)
wizard-audience-empty = Choose at least one tag or valued tag: no contact matches an empty audience

## Template and message
wizard-template-label = Template and language (approved templates)
wizard-template-choose = Choose a template
wizard-template-no-category = no category
# Followed by a link to Settings.
wizard-templates-empty = No approved template is synced yet: sync them in
wizard-template-saved = The template was saved. Now bind each of its placeholders.
wizard-bindings-legend = Each placeholder's value
# $placeholder is like {{1}}.
wizard-placeholder-in-header = { $placeholder } in the header
wizard-placeholder-in-body = { $placeholder } in the body
wizard-binding-source-label = { $placeholder }: value from
wizard-binding-kind-text = Free text
wizard-binding-kind-contact-name = The contact's name
wizard-binding-kind-valued-tag = A valued tag of the contact
wizard-binding-value-label = Free text
wizard-binding-key-label = Valued-tag key
wizard-binding-for = for { $placeholder }
wizard-header-media-heading = { $format ->
    [IMAGE] Header image
    [VIDEO] Header video
   *[DOCUMENT] Header document
}
wizard-header-media-none = The template's header needs a file: none is uploaded yet.
wizard-header-media-current = Current header: { $media }.
wizard-header-media-unnamed = upload
wizard-media-label = File (JPEG or PNG up to 5 MB, MP4 or 3GPP up to 16 MB)
wizard-media-upload = Upload
wizard-media-uploaded = { $filename } was uploaded to Meta and is the header of this campaign.

## Bot flow and pace
wizard-bot-flow-label = Bot flow that handles the replies
wizard-bot-flow-choose = Choose a bot flow
# Followed by the API call.
wizard-bot-flows-empty = No bot flow exists yet: create one with
wizard-pace-label = Contacts per second when started now (empty: the default)
wizard-delivery-legend = When a send's outcome is unknown
wizard-delivery-at-most-once = never send it again (at most once)
wizard-delivery-at-least-once = send it again (at least once)

## Review and send
review-title = Review
review-summary-caption = What this campaign sends
review-change = Change
review-line-name = Name
review-line-number = Number
review-line-audience = Audience
review-line-template = Template
review-line-bot-flow = Bot flow
review-pace = Pace
review-not-chosen = — not chosen
# Followed by the phones.
review-audience-test-phones = test phones:
review-audience-fixed = the { $count } contact(s) retried from another campaign
# Followed by the tag.
review-audience-tag = tag
review-audience-and = and
review-audience-or = or
review-audience-contacts-with = contacts with { $terms }
review-pace-default = { $pace } contacts per second (the default)
review-pace-per-second = { $pace } contacts per second
review-forecast = Forecast
review-will-send = Will be sent to
review-will-send-of = { $count } of { $audience }
review-will-not-send = Will not be sent to
review-eta = Sending takes
review-eta-until = { $eta }, until { $until }
review-forecast-pace = { $pace } contacts per second
review-forecast-pace-limited = { $pace } contacts per second, limited by the number's Meta throughput
review-exclusions-caption = Why contacts will not be sent to
review-exclusions-reason = Reason
review-exclusions-contacts = Contacts
review-exclusions-sample = For example
review-send-it = Send it
review-save-ready = Save as Ready
review-start-confirm = Start sending “{ $name }” now?
review-start-now = Start now
review-send-test = Send a test
review-schedule = Schedule
review-date = Date (UTC)
review-time = Time (UTC, 24-hour)
review-contacts-per-hour = Contacts per hour
review-ready-notice = “{ $name }” is ready to launch.
review-not-ready-notice = Not ready yet: { $problems }
review-test-sent = The test is being sent. This is its own test campaign; the campaign you tested is unchanged.
review-scheduled-notice = The campaign is scheduled for { $at }.

## Preview
preview-title = Preview
preview-as = As { $contact } would read it.
preview-no-contact = no contact of the audience yet (values of contacts are shown in brackets)
preview-contact-no-name = no name
preview-no-name-value = [no name: not sent to]
preview-no-valued-tag-value = [no { $key }: not sent to]
preview-not-bound = [{ $placeholder } is not bound]
# $format is Meta's header format; $kind is it as written, for a format without words here.
preview-media-uploaded = { $format ->
    [IMAGE] Image header (uploaded)
    [VIDEO] Video header (uploaded)
    [DOCUMENT] Document header (uploaded)
    [LOCATION] Location header (uploaded)
   *[other] { $kind } header (uploaded)
}
preview-media-not-uploaded = { $format ->
    [IMAGE] Image header (not uploaded yet)
    [VIDEO] Video header (not uploaded yet)
    [DOCUMENT] Document header (not uploaded yet)
    [LOCATION] Location header (not uploaded yet)
   *[other] { $kind } header (not uploaded yet)
}

## Bot step: the support team's capacity and quiet hours
wizard-capacity-legend = Support team's capacity (optional)
wizard-capacity-help = The pace slows down, or waits, so the replies the campaign provokes stay within what your team can answer. It never goes above the pace above.
wizard-capacity-replies = Replies per hour the team can answer
wizard-capacity-cases = Most inbox cases open at once
wizard-quiet-legend = Quiet hours (optional)
wizard-quiet-help = Send only inside this window of each contact's local time (the contact's time zone, else its phone's country's). Contacts outside it wait.
wizard-quiet-from = Send from
wizard-quiet-until = Send until
review-line-capacity = Support capacity
review-capacity-replies = { $count } replies per hour
review-capacity-cases = at most { $count } open cases
review-line-quiet = Quiet hours
review-quiet-window = sends from { $from } to { $until }, each contact's local time
review-quiet-open = open now
review-quiet-closed = waiting
review-limit = Messaging limit
review-limit-value = { $used } of { $limit } users reached in the last 24 hours ({ $tier })
review-limit-days = Under this tier the campaign needs about { $days } days.
