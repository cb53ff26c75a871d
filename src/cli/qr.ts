/**
 * The pairing code as a QR code at a terminal, drawn by the `qrcode` package (MIT, pure
 * JavaScript): two modules per character with explicit black on white, so it scans on dark and
 * light terminal themes alike. Error correction L: the code is shown on a screen, not printed.
 */

export async function renderTerminalQr(text: string): Promise<string> {
  // Loaded here, not at startup: its renderers cost every other command a few hundred ms.
  const { default: QRCode } = await import('qrcode');
  return QRCode.toString(text, { type: 'terminal', small: true, errorCorrectionLevel: 'L' });
}
