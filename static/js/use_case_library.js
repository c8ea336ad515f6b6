// P2P Sandbox: progressive touches of the use-case pages. Without JavaScript every page works
// as is: the share link is selectable text, and the buttons that only a script can run (copy,
// print) stay hidden.
(function () {
  "use strict";

  function setUpCopy() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var input = document.getElementById(button.getAttribute("data-copy"));
      if (!input || !navigator.clipboard) {
        return;
      }
      var label = button.textContent;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(input.value).then(
          function () {
            button.textContent = button.getAttribute("data-copied-label") || label;
            window.setTimeout(function () {
              button.textContent = label;
            }, 2000);
          },
          function () {
            input.select();
          }
        );
      });
    });
  }

  function setUpPrint() {
    document.querySelectorAll("button[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        window.print();
      });
    });
  }

  function setUpConfirmations() {
    document.addEventListener("submit", function (event) {
      var form = event.target.closest("form[data-confirm]");
      if (form && !window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  }

  function setUp() {
    setUpCopy();
    setUpPrint();
    setUpConfirmations();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
