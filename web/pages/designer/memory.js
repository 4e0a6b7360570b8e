// What the designer page remembers across reloads, per template.

// panelMemory keeps, per template, what the designer showed: the open
// step, whether the code view was open, and the last test run, so that a
// reload brings them back as the user left them.
export function panelMemory(key) {
  const name = "baton.designer." + key;
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(name) || "{}") || {};
  } catch {
    saved = {};
  }
  return {
    get: (k) => saved[k],
    set(k, v) {
      if (v === undefined || v === null || v === false) delete saved[k];
      else saved[k] = v;
      try {
        localStorage.setItem(name, JSON.stringify(saved));
      } catch {
        // storage full or disabled: the page still works, it just forgets
      }
    },
  };
}
