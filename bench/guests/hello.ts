// hello in AssemblyScript, with the SDK: reads the request, answers 200 text/plain "hello".
import { Request, Response, serve } from "./pyjinn";

serve((request: Request): Response => Response.text("hello", 200, "text/plain"));
