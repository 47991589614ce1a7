// One confirmation, one submission: once the confirm form is sent, its button is disabled
// and says what is happening. Progressive enhancement: without this script the page works,
// and the server starts nothing for a second POST of the same confirmation.
"use strict";
document.addEventListener("submit", function (event) {
  const form = event.target;
  if (!form.matches || !form.matches("form.laaffic-confirm-form")) {
    return;
  }
  if (form.dataset.sent) {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "yes";
  const button = form.querySelector("input[type=submit]");
  if (button) {
    // After the browser has taken the form's data, so the POST itself is unchanged.
    window.setTimeout(function () {
      button.disabled = true;
      button.value = button.dataset.sending || button.value;
      form.setAttribute("aria-busy", "true");
    }, 0);
  }
});
