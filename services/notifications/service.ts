import type { NotificationServiceService } from "../../gen/shop/notifications/v1/notifications";
import {
  actingUser,
  decodePageToken,
  encodePageToken,
  pageSize,
  scopeOf,
  Validator,
  type ServiceHandlers,
} from "../../mesh";
import type { NotificationsStore } from "./store";

/** Dependencies of the notifications service. */
export interface NotificationsServiceDeps {
  store: NotificationsStore;
}

const MAX_ID = 64;

/** The NotificationService handlers. */
export function createNotificationsService(
  deps: NotificationsServiceDeps,
): ServiceHandlers<typeof NotificationServiceService> {
  const { store } = deps;

  return {
    async listNotifications(request, ctx) {
      const scope = scopeOf(ctx);
      const v = new Validator();
      // With a bearer token it may be left empty: the token's user's notifications.
      v.string(request.userId, "user_id", { max: MAX_ID, required: scope === null });
      const size = pageSize(v, request.pageSize);
      v.done();
      const userId = actingUser(scope, request.userId, "user_id");
      // Bound to the user: another user's token is refused instead of paging their list.
      const before = decodePageToken(request.pageToken, userId);

      const notifications = await store.list(userId, size + 1, before?.[0] as string | undefined);
      const more = notifications.length > size;
      if (more) notifications.pop();
      return {
        notifications,
        nextPageToken: more
          ? encodePageToken([notifications[notifications.length - 1].notificationId], userId)
          : "",
      };
    },
  };
}
