import { runService } from "../../mesh";
import { users } from "./compose";

runService("users", users);
