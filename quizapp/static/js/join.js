// Remember name, phone and unit on this device for the next event (DESIGN: nothing typed is lost).
const form = document.getElementById("join-form");
const KEY = "qm-identity";
if (form) {
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(KEY) || "{}"); } catch { saved = {}; }
  for (const name of ["name", "phone", "unit_name"]) {
    const input = form.elements.namedItem(name);
    if (input && !input.value && saved[name]) input.value = saved[name];
  }
  const unitSelect = form.elements.namedItem("unit_id");
  if (unitSelect && !unitSelect.value && saved.unit_label) {
    for (const opt of unitSelect.options) if (opt.text === saved.unit_label) unitSelect.value = opt.value;
  }
  form.addEventListener("submit", () => {
    const data = {};
    for (const name of ["name", "phone", "unit_name"]) {
      const input = form.elements.namedItem(name);
      if (input) data[name] = input.value;
    }
    if (unitSelect && unitSelect.selectedIndex > 0) data.unit_label = unitSelect.options[unitSelect.selectedIndex].text;
    try { localStorage.setItem(KEY, JSON.stringify(data)); } catch { /* private mode */ }
  });
}
