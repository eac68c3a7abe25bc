import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import type { Completion, Message, Request, ScriptedReply, Service, StreamPart, TextDelta, Usage } from "../LLM.js"
import { LLMError } from "../LLMError.js"
import * as Llm from "./llm.js"

export const provider = "scripted"

/** Splits text into word-sized deltas that concatenate back to it. */
export const chunksOf = (text: string): Array<TextDelta> =>
  (text.match(/\s*\S+\s*/g) ?? [text]).map((t) => ({ type: "text", text: t }))

/** The parts of a whole answer streamed: word-sized text deltas, the tool calls (deltas, then the call), finish. */
export const partsOf = (completion: Completion): Array<StreamPart> => [
  ...(completion.refusal === undefined
    ? chunksOf(completion.text)
    : [{ type: "refusal" as const, text: completion.refusal }]),
  ...completion.toolCalls.flatMap(
    (call, index): Array<StreamPart> => [
      { type: "tool-call-delta", index, id: call.id, name: call.name, inputDelta: JSON.stringify(call.input) },
      { type: "tool-call", ...call }
    ]
  ),
  { type: "finish", stopReason: completion.stopReason, usage: completion.usage }
]

const contentOf = (m: Message): string => (m.role === "tool" ? m.results.map((r) => r.content).join(" ") : m.content)

const countWords = (text: string): number => text.split(/\s+/).filter((w) => w.length > 0).length

export const usageOf = (request: Request, text: string): Usage => ({
  inputTokens: countWords([request.system ?? "", ...request.messages.map(contentOf)].join(" ")),
  outputTokens: countWords(text)
})

const describe = (request: Request): string => {
  const message = request.messages[request.messages.length - 1]
  const last = message === undefined ? "" : contentOf(message)
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
    const next = (request: Request): Effect.Effect<{ completion: Completion; thenFail?: LLMError }, LLMError> =>
      Ref.update(requests, (rs) => [...rs, request]).pipe(
        Effect.zipRight(
          Ref.modify(remaining, (rs) => [rs[0], rs.slice(1)] as const).pipe(
            Effect.flatMap((reply): Effect.Effect<{ completion: Completion; thenFail?: LLMError }, LLMError> => {
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
              const completion = (text: string, extra: Partial<Completion> = {}): Completion => ({
                text,
                stopReason: "end",
                usage: usageOf(request, text),
                model,
                toolCalls: [],
                ...extra
              })
              if (typeof reply === "string") return Effect.succeed({ completion: completion(reply) })
              if ("json" in reply) return Effect.succeed({ completion: completion(JSON.stringify(reply.json)) })
              if ("refusal" in reply) {
                return Effect.succeed({
                  completion: completion("", { refusal: reply.refusal, stopReason: "refusal" })
                })
              }
              const toolCalls = reply.toolCalls ?? []
              return Effect.succeed({
                completion: completion(reply.text, {
                  toolCalls,
                  stopReason: reply.stopReason ?? (toolCalls.length > 0 ? "tool_use" : "end"),
                  ...(reply.usage === undefined ? {} : { usage: reply.usage })
                }),
                ...(reply.thenFail === undefined ? {} : { thenFail: reply.thenFail })
              })
            })
          )
        )
      )
    const service = Llm.make({
      provider,
      model,
      defaultMaxTokens: undefined,
      nativeStructured: false,
      complete: (request) =>
        Effect.flatMap(next(request), ({ completion, thenFail }) =>
          thenFail === undefined ? Effect.succeed(completion) : Effect.fail(thenFail)
        ),
      stream: (request) =>
        Stream.unwrap(
          Effect.map(next(request), ({ completion, thenFail }) =>
            thenFail === undefined
              ? Stream.fromIterable(partsOf(completion))
              : Stream.concat(Stream.fromIterable(chunksOf(completion.text)), Stream.fail(thenFail))
          )
        )
    })
    return { service, requests, remaining }
  })
