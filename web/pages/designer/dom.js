// Small DOM helpers shared by the designer page's modules.

export const $ = (id) => document.getElementById(id);

// el builds an element: el("p", {class: "x", "data-testid": "y"}, child…);
// false, null and undefined attributes and children are left out.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}
