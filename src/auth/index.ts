// Accounts and devices. Pairing lives beside these files and adds its own names here.
export { loginUser, registerUser, type User } from './accounts.ts';
export {
  addDeviceToUser,
  authorizeDevice,
  getUserDevices,
  isAuthorizedPeer,
  revokeDevice,
  type AuthorizeDeviceInput,
  type Device,
} from './devices.ts';
export { uuidv7 } from './ids.ts';
export { PASSWORD_HASH_OPTIONS } from './password.ts';
export { AUTH_LIMITS } from './validate.ts';
