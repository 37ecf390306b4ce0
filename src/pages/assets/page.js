// session-share page script: the only script the page runs (see its Content-Security-Policy).
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("copy-code");
  if (!button) return;
  button.addEventListener("click", async () => {
    const code = button.dataset.code;
    try {
      await navigator.clipboard.writeText(code);
      button.textContent = "Copied " + code;
    } catch {
      // No clipboard access (an insecure origin, or refused): show the code to copy by hand.
      const input = document.getElementById("share-code");
      input.hidden = false;
      input.select();
      button.textContent = "Copy the code";
    }
    setTimeout(() => { button.textContent = "Copy share code"; }, 2500);
  });
});
