import type { NotificationServiceService } from "../../gen/shop/notifications/v1/notifications";
import {
  decodePageToken,
  encodePageToken,
  pageSize,
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
    async listNotifications(request) {
      const v = new Validator();
      v.string(request.userId, "user_id", { max: MAX_ID });
      const size = pageSize(v, request.pageSize);
      v.done();
      // Bound to the user: another user's token is refused instead of paging their list.
      const before = decodePageToken(request.pageToken, request.userId);

      const notifications = await store.list(
        request.userId,
        size + 1,
        before?.[0] as string | undefined,
      );
      const more = notifications.length > size;
      if (more) notifications.pop();
      return {
        notifications,
        nextPageToken: more
          ? encodePageToken(
              [notifications[notifications.length - 1].notificationId],
              request.userId,
            )
          : "",
      };
    },
  };
}
