// Reads QR codes from the camera: the browser's BarcodeDetector where it reads QR
// codes, else jsQR (vendored under /app/vendor, loaded only when needed).

let jsQR = null;

async function makeDecoder() {
  if ('BarcodeDetector' in window) {
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (formats.includes('qr_code')) {
        const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
        return { name: 'BarcodeDetector', decode: async (video) => (await detector.detect(video))[0]?.rawValue || null };
      }
    } catch {
      /* fall back to jsQR */
    }
  }
  if (!jsQR) jsQR = (await import('./vendor/jsqr.js')).default;
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  return {
    name: 'jsQR',
    decode: async (video) => {
      const scale = Math.min(1, 800 / Math.max(video.videoWidth, video.videoHeight));
      const w = Math.round(video.videoWidth * scale);
      const hgt = Math.round(video.videoHeight * scale);
      if (!w || !hgt) return null;
      canvas.width = w;
      canvas.height = hgt;
      ctx.drawImage(video, 0, 0, w, hgt);
      const image = ctx.getImageData(0, 0, w, hgt);
      return jsQR(image.data, w, hgt, { inversionAttempts: 'attemptBoth' })?.data || null;
    },
  };
}

/** Why the camera could not start, in plain French. */
export function cameraError(err) {
  switch (err?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'L’accès à la caméra est refusé. Autorisez-le dans le navigateur, ou saisissez le numéro du chèque.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'Aucune caméra trouvée sur cet appareil : saisissez le numéro du chèque.';
    case 'NotReadableError':
      return 'La caméra est occupée par une autre application : fermez-la, ou saisissez le numéro du chèque.';
    default:
      return 'La caméra ne démarre pas : saisissez le numéro du chèque.';
  }
}

/**
 * Starts the camera in `video` and calls `onCode(text)` for each code read while
 * reading is on. Returns {pause(), resume(), stop(), decoder}.
 */
export async function startScanner(video, onCode) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw Object.assign(new Error('no camera API'), { name: 'NotFoundError' });
  }
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: false,
    video: { facingMode: { ideal: 'environment' }, width: { ideal: 1280 }, height: { ideal: 720 } },
  });
  video.srcObject = stream;
  video.muted = true;
  video.setAttribute('playsinline', '');
  await video.play();
  const decoder = await makeDecoder();
  let reading = true;
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    if (reading && video.readyState >= 2) {
      try {
        const text = await decoder.decode(video);
        if (text && reading && !stopped) {
          reading = false;
          onCode(text.trim());
        }
      } catch {
        /* a frame that cannot be read: try the next */
      }
    }
    timer = setTimeout(tick, 120);
  };
  tick();
  return {
    decoder: decoder.name,
    pause() { reading = false; },
    resume() { reading = true; },
    stop() {
      stopped = true;
      clearTimeout(timer);
      for (const track of stream.getTracks()) track.stop();
      video.srcObject = null;
    },
  };
}
