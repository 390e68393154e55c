// The service worker: keeps the app's own files on the device so that a page of the
// app (the scan page above all) opens again without a connection — a phone's browser
// may reload a tab at any time. Network first: a new version is used as soon as it
// is reachable. Only the app's files and pages are kept, never an API answer.

const CACHE = 'passnum-app-v1';
const SHELL = '/shell';
const CORE = [
  '/app/main.js', '/app/api.js', '/app/dom.js', '/app/style.css', '/app/icon.svg',
  '/app/queue.js', '/app/refusals.js', '/app/terms.js', '/app/follow-up.js', '/app/scanner.js', '/app/charts.js', '/app/stats.js',
  '/app/service-picker.js', '/app/collective.js', '/app/pages/site-services.js',
  '/app/pages/login.js', '/app/pages/site.js', '/app/pages/sites.js',
  '/app/vendor/jsqr.js', '/app/manifest.webmanifest',
];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    const shell = await fetch('/', { cache: 'no-cache' });
    if (shell.ok) await cache.put(SHELL, shell);
    await cache.addAll(CORE);
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const page = request.mode === 'navigate' && !url.pathname.startsWith('/api/') && !url.pathname.startsWith('/docs');
  if (!page && !url.pathname.startsWith('/app/')) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const answer = await fetch(request);
      if (answer.ok) await cache.put(page ? SHELL : request, answer.clone());
      return answer;
    } catch (err) {
      const kept = await cache.match(page ? SHELL : request, { ignoreSearch: page });
      if (kept) return kept;
      throw err;
    }
  })());
});
