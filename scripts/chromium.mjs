// How every browser test and benchmark starts Debian's Chromium: headless, offline except for
// 127.0.0.1, no background traffic. Used with playwright-core's launchPersistentContext and a
// fresh user-data-dir, so no tool ever downloads its own browser.
export const CHROMIUM = "/usr/bin/chromium";

/** The command-line flags, plus `extra` (e.g. "--enable-unsafe-webgpu"). */
export function chromiumArgs(extra = []) {
  return [
    "--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ...extra,
  ];
}
