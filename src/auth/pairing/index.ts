// The network-free half of pairing: challenges, QR text, messages, and what each side records.
export { createPairingChallenge, decodePairingQr, DEFAULT_PAIRING_TTL_MS, encodePairingQr, PAIRING_LIMITS, verifyPairingChallenge, type PairingChallenge } from './challenge.ts';
export { PairingError, type PairingErrorCode } from './errors.ts';
export { createPairingInvitation, decodePairingInvitation, encodePairingInvitation, isPairingInvitation, verifyPairingInvitation, type PairingInvitation } from './invitation.ts';
