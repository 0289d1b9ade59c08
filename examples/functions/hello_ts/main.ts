// A pyjinn function in AssemblyScript, with the SDK: greets ?name=, logs through the host,
// and answers in the language the Accept-Language header asks for (en or fr).
//
// GET /ts?name=Ada                          -> Hello, Ada!
// GET /ts?name=Ada (Accept-Language: fr)    -> Bonjour, Ada !
import { Level, Request, Response, log, serve } from "../../../sdk/assemblyscript/pyjinn";

function greet(request: Request): Response {
  const given = request.queryParam("name");
  const name = given !== null ? given : "world";
  if (name.length > 200) return Response.text("name is longer than 200 characters", 400);
  const language = request.header("Accept-Language");
  const french = language !== null && language.startsWith("fr");
  log(Level.INFO, "greeting " + name);
  return Response.text(french ? "Bonjour, " + name + " !" : "Hello, " + name + "!")
    .header("Content-Language", french ? "fr" : "en");
}

serve(greet);
