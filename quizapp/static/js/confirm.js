// Destructive organiser actions ask first: a form with data-confirm="question?" submits
// only after the organiser agrees. Without JavaScript the action simply runs.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
  if (!window.confirm(form.dataset.confirm)) event.preventDefault();
}, true);

// Long tasks show progress: a form with data-busy="Checking the file…" disables its
// buttons and shows the text while the server works (imports of thousands of rows),
// and a download link with data-busy shows it until the file starts arriving.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (event.defaultPrevented || !(form instanceof HTMLFormElement) || !form.dataset.busy) return;
  for (const button of form.querySelectorAll("button")) {
    button.disabled = true;
  }
  form.setAttribute("aria-busy", "true");
  const note = document.createElement("p");
  note.className = "busy";
  note.setAttribute("role", "status");
  note.textContent = form.dataset.busy;
  form.append(note);
});

document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a[data-busy]") : null;
  if (!link) return;
  const note = document.createElement("span");
  note.className = "busy";
  note.setAttribute("role", "status");
  note.textContent = ` ${link.dataset.busy}`;
  link.after(note);
  window.setTimeout(() => note.remove(), 8000);
});
