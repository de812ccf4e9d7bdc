# What every page shares: the frame, signing in and out, errors.
product-name = Campaigns
brand = WhatsApp Campaigns
skip-to-content = Skip to content
nav-label = Main
nav-campaigns = Campaigns
nav-contacts = Contacts
nav-settings = Settings
nav-operations = Operations
signed-in-as = Signed in as
role-admin = admin
role-operator = operator
sign-out = Sign out
sign-out-everywhere = Sign out everywhere
sign-out-everywhere-confirm = Sign out of every browser where you are signed in?
signed-out = You are signed out.
signed-out-everywhere = You are signed out of every browser ({ $count ->
    [one] 1 session
   *[other] { $count } sessions
}).
sign-in = Sign in
sign-in-heading = Sign in to Campaigns
there-is-a-problem = There is a problem
email = Email
password = Password
accounts-created-by-admin = Accounts are created by an administrator of your organization.
sign-in-unusable-characters = The email or the password contains characters that cannot be used.
sign-in-throttled = Too many failed sign-ins. Wait { $minutes } minutes, then try again.
sign-in-refused = The email or the password is not right.
csrf-refused = This form has expired or did not come from this console. Go back, reload the page and try again.
not-done = Not done: { $message } ({ $code })
error-title = Error { $status }
error-heading = Something went wrong
error-code = Error code:
back-to-campaigns = Back to the campaigns
contacts-count = { $count ->
    [one] 1 contact
   *[other] { $count } contacts
}
