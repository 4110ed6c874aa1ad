// The certificate's print button (kept out of the page: its policy allows no inline script).
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("print");
  if (button) button.addEventListener("click", () => window.print());
});
