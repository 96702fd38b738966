/* global module */
/**
 * Puppeteer (a dependency of whatsapp-web.js) must not download its own Chrome on
 * `npm install`: the whatsapp-web plugin runs Debian's Chromium (/usr/bin/chromium, installed
 * by scripts/install-chromium.sh where the plugin is enabled).
 * @type {import("puppeteer").Configuration}
 */
module.exports = {
  skipDownload: true,
};
