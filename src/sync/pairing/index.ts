// Pairing over /ahenk/pair/1.0.0: the only way a new device joins a user's device list.
export { AuthorizerWorkflow, type AuthorizerOptions, type PairedDevice } from './authorizer.ts';
export { NewDeviceWorkflow, type NewDeviceOptions, type PairingResult } from './new-device.ts';
export { PAIR_PROTOCOL, type PairingNode } from './channel.ts';
// The roles swapped: a device that can be dialled but is not listed (a web page) shows an invitation; a listed device accepts it.
export { InviteeWorkflow, PAIR_INVITE_PROTOCOL, type InviteeOptions } from './invitee.ts';
export { acceptInvitation, type AcceptInvitationOptions } from './accept-invitation.ts';
