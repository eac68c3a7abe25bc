import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import type { Completion, Request, ScriptedReply, Service, TextDelta, Usage } from "../LLM.js"
import { LLMError } from "../LLMError.js"
import * as Llm from "./llm.js"

export const provider = "scripted"

/** Splits text into word-sized deltas that concatenate back to it. */
export const chunksOf = (text: string): Array<TextDelta> =>
  (text.match(/\s*\S+\s*/g) ?? [text]).map((t) => ({ text: t }))

const countWords = (text: string): number => text.split(/\s+/).filter((w) => w.length > 0).length

export const usageOf = (request: Request, text: string): Usage => ({
  inputTokens: countWords([request.system ?? "", ...request.messages.map((m) => m.content)].join(" ")),
  outputTokens: countWords(text)
})

const describe = (request: Request): string => {
  const last = request.messages[request.messages.length - 1]?.content ?? ""
  return JSON.stringify(last.length > 120 ? `${last.slice(0, 120)}…` : last)
}

export interface Scripted {
  readonly service: Service
  readonly requests: Ref.Ref<ReadonlyArray<Request>>
  readonly remaining: Ref.Ref<ReadonlyArray<ScriptedReply>>
}

export const make = (replies: ReadonlyArray<ScriptedReply>, model = "scripted-model"): Effect.Effect<Scripted> =>
  Effect.gen(function* () {
    const requests = yield* Ref.make<ReadonlyArray<Request>>([])
    const remaining = yield* Ref.make<ReadonlyArray<ScriptedReply>>(replies)
    const next = (request: Request): Effect.Effect<string, LLMError> =>
      Ref.update(requests, (rs) => [...rs, request]).pipe(
        Effect.zipRight(
          Ref.modify(remaining, (rs) => [rs[0], rs.slice(1)] as const).pipe(
            Effect.flatMap((reply): Effect.Effect<string, LLMError> => {
              if (reply === undefined) {
                return Effect.dieMessage(
                  `LLM.layerScripted: the script has ${replies.length} repl${
                    replies.length === 1 ? "y" : "ies"
                  } and all were used, but the model was called again (call #${
                    replies.length + 1
                  }, last message ${describe(request)}). Add a reply to the script.`
                )
              }
              if (reply instanceof LLMError) return Effect.fail(reply)
              if (typeof reply === "string") return Effect.succeed(reply)
              if ("json" in reply) return Effect.succeed(JSON.stringify(reply.json))
              return Effect.succeed(reply.text)
            })
          )
        )
      )
    const service = Llm.make({
      provider,
      model,
      complete: (request) =>
        next(request).pipe(
          Effect.map((text): Completion => ({ text, stopReason: "end", usage: usageOf(request, text), model }))
        ),
      stream: (request) => Stream.unwrap(Effect.map(next(request), (text) => Stream.fromIterable(chunksOf(text))))
    })
    return { service, requests, remaining }
  })
