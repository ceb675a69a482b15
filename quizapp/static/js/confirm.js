// Destructive organiser actions ask first: a form with data-confirm="question?" submits
// only after the organiser agrees. Without JavaScript the action simply runs.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
  if (!window.confirm(form.dataset.confirm)) event.preventDefault();
}, true);
