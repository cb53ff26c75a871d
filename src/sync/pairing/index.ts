// Pairing over /ahenk/pair/1.0.0: the only way a new device joins a user's device list.
export { AuthorizerWorkflow, type AuthorizerOptions, type PairedDevice } from './authorizer.ts';
export { NewDeviceWorkflow, type NewDeviceOptions, type PairingResult } from './new-device.ts';
export { PAIR_PROTOCOL, type PairingNode } from './channel.ts';
