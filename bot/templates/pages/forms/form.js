/* leadbot form script (optional): fills the fill token and the attribution fields, posts the
   form as JSON, shows a field's error next to it, and goes to the form's thank-you page. Without
   it the form still works: the browser posts it and follows the 303. */
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-leadbot-form]");
  var params = new URLSearchParams(window.location.search);
  Array.prototype.forEach.call(forms, function (form) {
    var set = function (name, value) {
      var input = form.querySelector('input[name="' + name + '"]');
      if (input && !input.value && value) { input.value = value; }
    };
    set("_page", window.location.href);
    set("_referrer", document.referrer);
    ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"].forEach(function (k) {
      set(k, params.get(k));
    });
    var tokenInput = form.querySelector('input[name="_token"]');
    var tokenReady = tokenInput.value ? Promise.resolve() :
      fetch(form.action + "/token", {credentials: "omit"}).then(function (r) { return r.json(); })
        .then(function (body) { tokenInput.value = body.token; })
        .catch(function () {});
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = {};
      new FormData(form).forEach(function (value, key) { data[key] = value; });
      Array.prototype.forEach.call(form.querySelectorAll("[data-error-for]"), function (el) {
        el.textContent = "";
      });
      tokenReady.then(function () {
        data._token = tokenInput.value;
        return fetch(form.action, {
          method: "POST", credentials: "omit",
          headers: {"Content-Type": "application/json", "Accept": "application/json"},
          body: JSON.stringify(data)
        });
      }).then(function (response) {
        return response.json().then(function (body) { return {status: response.status, body: body}; });
      }).then(function (answer) {
        if (answer.status === 202 && answer.body.redirect) {
          window.location.assign(answer.body.redirect);
        } else if (answer.status === 422) {
          (answer.body.errors || []).forEach(function (e) {
            var el = form.querySelector('[data-error-for="' + e.field + '"]');
            if (el) { el.textContent = e.field + " " + e.reason; }
          });
        } else {
          form.submit();
        }
      }).catch(function () { form.submit(); });
    });
  });
})();
