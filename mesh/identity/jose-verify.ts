// The part of jose that checks tokens, which tokens.ts imports when the first token arrives.
// Imported through this module rather than as the whole package, each member's bundle holds
// 38 KB of jose's source instead of 107 KB.
export { createLocalJWKSet, errors, jwtVerify } from "jose";
