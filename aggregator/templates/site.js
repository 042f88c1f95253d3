// Entries are grouped by their day in UTC and their times written in UTC. Here they are
// regrouped, and their times shown, in the reader's own time zone. Without this script
// the UTC text stays, which is right too.
(() => {
  const format = (options) => new Intl.DateTimeFormat(undefined, options);
  const time = format({ hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  const date = format({ weekday: "short", day: "numeric", month: "short", year: "numeric" });
  const long = format({ weekday: "long", day: "numeric", month: "long", year: "numeric" });
  const pad = (n) => String(n).padStart(2, "0");
  const ymd = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const days = [...document.querySelectorAll("section[data-day]")];
  let day = null;
  for (const article of days.flatMap((section) => [...section.querySelectorAll("article")])) {
    const when = new Date(article.querySelector("time[data-local]").dateTime);
    const key = ymd(when);
    if (day?.dataset.day !== key) {
      day = document.createElement("section");
      day.dataset.day = key;
      day.setAttribute("aria-labelledby", `d-${key}`);
      day.innerHTML = `<h2 id="d-${key}"><time datetime="${key}"></time></h2>`;
      day.querySelector("time").textContent = long.format(when);
      days[0].before(day);
    }
    day.append(article);
  }
  days.forEach((section) => section.remove());
  for (const el of document.querySelectorAll("time[data-local]")) {
    const when = new Date(el.dateTime);
    const sameDay = el.closest("[data-day]")?.dataset.day === ymd(when);
    el.title = el.textContent;
    el.textContent = sameDay ? time.format(when) : `${date.format(when)}, ${time.format(when)}`;
  }
})();
