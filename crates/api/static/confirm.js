// Asks before a form with `data-confirm` is sent (finish, sign out
// everywhere, ...). Without JavaScript the form is sent as it is.
"use strict";
document.addEventListener("submit", function (event) {
  const form = event.target;
  const question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
