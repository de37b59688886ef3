import {
  alreadyExists,
  decodePageToken,
  encodePageToken,
  newId,
  notFound,
  pageSize,
  scopeOf,
  serviceOnly,
  Validator,
  visibleIn,
  type ServiceHandlers,
} from "../../mesh";
import type { UserServiceService } from "../../gen/shop/users/v1/users";
import { MAX_PASSWORD, MIN_PASSWORD } from "./auth";
import { DEFAULT_SCRYPT, hashPassword, type Derive, type ScryptParams } from "./passwords";
import type { UsersStore } from "./store";

/** Dependencies of the users service. */
export interface UsersServiceDeps {
  store: UsersStore;
  /** Defaults to the system clock. */
  now?: () => Date;
  /** Cost of password hashes. Defaults to DEFAULT_SCRYPT (tests make it cheaper). */
  scrypt?: ScryptParams;
  /** Where password keys are derived. Defaults to the libuv pool; main.ts gives worker threads. */
  derive?: Derive;
}

// Loose on purpose (RFC 5321 allows much): one @, no spaces, a dot in the domain.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const MAX_EMAIL = 254;
const MAX_NAME = 100;
const MAX_ID = 64;

/** The UserService handlers. */
export function createUsersService(
  deps: UsersServiceDeps,
): ServiceHandlers<typeof UserServiceService> {
  const { store } = deps;
  const now = deps.now ?? (() => new Date());
  const scrypt = deps.scrypt ?? DEFAULT_SCRYPT;

  return {
    async createUser(request) {
      const v = new Validator();
      v.string(request.email, "email", {
        max: MAX_EMAIL,
        pattern: EMAIL,
        patternHint: "must be an email address",
      });
      v.string(request.displayName, "display_name", { max: MAX_NAME });
      const password = request.password ?? "";
      if (password !== "" && [...password].length < MIN_PASSWORD) {
        v.fail("password", `must be at least ${MIN_PASSWORD} characters`);
      } else {
        v.string(password, "password", { max: MAX_PASSWORD, required: false });
      }
      v.done();

      const user = {
        userId: newId("usr"),
        email: request.email.toLowerCase(),
        displayName: request.displayName,
        createTime: now(),
      };
      const passwordHash =
        password === "" ? null : await hashPassword(password, scrypt, deps.derive);
      if (!(await store.insert(user, passwordHash)))
        throw alreadyExists(`a user with email ${user.email} already exists`);
      return { user };
    },

    async getUser(request, ctx) {
      const scope = scopeOf(ctx);
      const v = new Validator();
      v.string(request.userId, "user_id", { max: MAX_ID });
      v.done();

      const user = await store.get(request.userId);
      // An end user sees only themselves; anyone else answers as a missing user.
      if (!user || !visibleIn(scope, user.userId))
        throw notFound(`user ${request.userId} not found`);
      return { user };
    },

    async listUsers(request, ctx) {
      serviceOnly(ctx);
      const v = new Validator();
      const size = pageSize(v, request.pageSize);
      v.done();
      const after = decodePageToken(request.pageToken);

      const users = await store.list(size + 1, after?.[0] as string | undefined);
      const more = users.length > size;
      if (more) users.pop();
      return {
        users,
        nextPageToken: more ? encodePageToken([users[users.length - 1].userId]) : "",
      };
    },
  };
}
