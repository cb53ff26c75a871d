/**
 * The pairing code as a QR code at a terminal, drawn by the `qrcode` package (MIT, pure
 * JavaScript): two modules per character with explicit black on white, so it scans on dark and
 * light terminal themes alike. Error correction L: the code is shown on a screen, not printed.
 */
import QRCode from 'qrcode';

export async function renderTerminalQr(text: string): Promise<string> {
  return QRCode.toString(text, { type: 'terminal', small: true, errorCorrectionLevel: 'L' });
}
