document.addEventListener("DOMContentLoaded", () => {
  // Each cell of a table marked {.stack} gets its column's name, shown above it on a phone.
  for (const table of document.querySelectorAll("table.stack")) {
    const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.children].forEach((cell, i) => cell.setAttribute("data-label", names[i] || ""));
    }
  }
  // A screenshot of the admin opens at full size, readable on a phone.
  for (const image of document.querySelectorAll('img[src*="screens/"]')) {
    if (image.closest("a")) continue;
    const link = document.createElement("a");
    link.href = image.src;
    link.title = image.alt;
    image.replaceWith(link);
    link.append(image);
  }
});
