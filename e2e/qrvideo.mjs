// A fake camera for Chromium: a Y4M video (a text header and raw YUV 4:2:0 frames)
// showing a ticket's QR code, made from the PNG the API draws for that ticket.

import fs from 'node:fs';
import zlib from 'node:zlib';

/** Decodes an 8-bit greyscale, RGB or RGBA, non-interlaced PNG into grey levels. */
export function decodePng(buf) {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let pos = 8;
  let width = 0;
  let height = 0;
  let type = 0;
  const idat = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const kind = buf.toString('ascii', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (kind === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0) throw new Error('only 8-bit non-interlaced PNGs');
      type = data[9];
    } else if (kind === 'IDAT') {
      idat.push(data);
    } else if (kind === 'IEND') {
      break;
    }
    pos += 12 + len;
  }
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[type];
  if (!channels) throw new Error(`PNG colour type ${type} not handled`);
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(stride * height);
  const paeth = (a, b, c) => {
    const p = a + b - c;
    const pa = Math.abs(p - a);
    const pb = Math.abs(p - b);
    const pc = Math.abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
  };
  for (let y = 0; y < height; y += 1) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x += 1) {
      const v = raw[y * (stride + 1) + 1 + x];
      const a = x >= channels ? out[y * stride + x - channels] : 0;
      const b = y > 0 ? out[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? out[(y - 1) * stride + x - channels] : 0;
      const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter];
      out[y * stride + x] = (v + pred) & 0xff;
    }
  }
  const grey = new Uint8Array(width * height);
  for (let i = 0; i < width * height; i += 1) {
    grey[i] = channels >= 3
      ? Math.round(0.299 * out[i * channels] + 0.587 * out[i * channels + 1] + 0.114 * out[i * channels + 2])
      : out[i * channels];
  }
  return { width, height, grey };
}

/** The QR image centred on a white 640×480 frame (nearest neighbour), as luma. */
export function frameOf(image, W = 640, H = 480, size = 360) {
  const luma = new Uint8Array(W * H).fill(235);
  const x0 = Math.floor((W - size) / 2);
  const y0 = Math.floor((H - size) / 2);
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) {
      const sx = Math.floor((x * image.width) / size);
      const sy = Math.floor((y * image.height) / size);
      luma[(y0 + y) * W + x0 + x] = image.grey[sy * image.width + sx] < 128 ? 16 : 235;
    }
  }
  return { luma, width: W, height: H };
}

/** Writes `frames` identical frames of `frame` as a Y4M file. */
export function writeY4m(file, frame, frames = 5) {
  const { luma, width, height } = frame;
  const chroma = Buffer.alloc((width / 2) * (height / 2), 128);
  const parts = [Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\n`)];
  for (let i = 0; i < frames; i += 1) parts.push(Buffer.from('FRAME\n'), Buffer.from(luma), chroma, chroma);
  fs.writeFileSync(file, Buffer.concat(parts));
}

/** RGBA pixels of a luma frame (to check it with jsQR before Chromium sees it). */
export function rgbaOf(frame) {
  const rgba = new Uint8ClampedArray(frame.width * frame.height * 4);
  for (let i = 0; i < frame.luma.length; i += 1) {
    rgba[i * 4] = frame.luma[i];
    rgba[i * 4 + 1] = frame.luma[i];
    rgba[i * 4 + 2] = frame.luma[i];
    rgba[i * 4 + 3] = 255;
  }
  return rgba;
}
