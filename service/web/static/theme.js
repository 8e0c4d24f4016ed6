// Runs in <head> before the body paints: apply the theme the user pinned (if any),
// so a dark-mode user never sees a white flash. No pin = follow prefers-color-scheme.
(function () {
  try {
    var pinned = localStorage.getItem("shrinknets-theme");
    if (pinned === "dark" || pinned === "light") {
      document.documentElement.setAttribute("data-theme", pinned);
    }
  } catch (e) { /* storage disabled: follow the system theme */ }
})();
