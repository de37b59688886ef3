import { runService } from "../../mesh";
import { notifications } from "./compose";

runService("notifications", notifications);
