// Times are written in UTC; show them in the reader's own time zone. Without this script
// the UTC text stays, which is right too.
(() => {
  const time = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  const day = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric" });
  const ymd = (d) => [d.getFullYear(), d.getMonth() + 1, d.getDate()].map((n) => String(n).padStart(2, "0")).join("-");
  for (const el of document.querySelectorAll("time[data-local]")) {
    const when = new Date(el.dateTime);
    if (Number.isNaN(when.getTime())) continue;
    // Under a day's heading only the time, unless here it falls on another day.
    const heading = el.closest("[data-day]");
    const sameDay = heading !== null && heading.dataset.day === ymd(when);
    el.title = el.textContent;
    el.textContent = sameDay ? time.format(when) : `${day.format(when)}, ${time.format(when)}`;
  }
})();
