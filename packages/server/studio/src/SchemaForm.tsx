/**
 * A form generated from a JSON Schema (as `effect/JSONSchema` makes them): one field per property of an object
 * (text, number, checkbox, select for enums, JSON for the rest), or one field for a schema that is not an object.
 */
import { useState } from "preact/hooks"

type Json = any

const resolve = (schema: Json, root: Json): Json => {
  let current = schema ?? {}
  for (let i = 0; i < 16 && typeof current.$ref === "string"; i++) {
    const path = current.$ref.replace(/^#\//, "").split("/")
    let target: Json = root
    for (const part of path) target = target?.[part]
    current = target ?? {}
  }
  return current
}

type Kind = "string" | "number" | "integer" | "boolean" | "enum" | "json"

const kindOf = (schema: Json): Kind => {
  if (Array.isArray(schema.enum)) return "enum"
  if (schema.type === "string" || schema.type === "number" || schema.type === "integer" || schema.type === "boolean")
    return schema.type
  return "json"
}

const read = (kind: Kind, raw: string, checked: boolean): unknown => {
  switch (kind) {
    case "boolean":
      return checked
    case "number":
    case "integer":
      return raw === "" ? undefined : Number(raw)
    case "enum": {
      try {
        return JSON.parse(raw)
      } catch {
        return raw
      }
    }
    case "json":
      return raw.trim() === "" ? undefined : JSON.parse(raw)
    default:
      return raw
  }
}

interface Field {
  readonly name: string
  readonly schema: Json
  readonly kind: Kind
  readonly required: boolean
}

const Input = (props: { readonly field: Field; readonly id: string }) => {
  const { field, id } = props
  const label = `${field.name}${field.required ? "" : " (optional)"}`
  const description = field.schema.description ?? field.schema.title
  let input: any
  switch (field.kind) {
    case "boolean":
      input = <input id={id} name={field.name} type="checkbox" />
      break
    case "number":
    case "integer":
      input = <input id={id} name={field.name} type="number" step={field.kind === "integer" ? 1 : "any"} />
      break
    case "enum":
      input = (
        <select id={id} name={field.name}>
          {field.schema.enum.map((value: unknown) => (
            <option key={String(value)} value={JSON.stringify(value)}>
              {String(value)}
            </option>
          ))}
        </select>
      )
      break
    case "json":
      input = <textarea id={id} name={field.name} rows={3} placeholder="JSON" />
      break
    default:
      input = <input id={id} name={field.name} type="text" />
  }
  return (
    <label class="field" for={id}>
      <span>{label}</span>
      {input}
      {description === undefined ? null : <small>{description}</small>}
    </label>
  )
}

let formCount = 0

export const SchemaForm = (props: {
  readonly schema: Json
  /** Properties filled in by the caller (e.g. `_tag`, `requestId`): not shown. */
  readonly hidden?: ReadonlyArray<string>
  readonly submit: string
  readonly testid: string
  readonly onSubmit: (value: any) => Promise<void>
}) => {
  const [error, setError] = useState<string | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const [prefix] = useState(() => `f${formCount++}`)
  const root = props.schema ?? {}
  const schema = resolve(root, root)
  const isObject = schema.type === "object" && typeof schema.properties === "object"
  const hidden = new Set(props.hidden ?? [])
  const required = new Set<string>(schema.required ?? [])
  const fields: Array<Field> = isObject
    ? Object.entries<Json>(schema.properties)
        .filter(([name]) => !hidden.has(name))
        .map(([name, property]) => {
          const resolved = resolve(property, root)
          return { name, schema: resolved, kind: kindOf(resolved), required: required.has(name) }
        })
    : [{ name: "value", schema, kind: kindOf(schema), required: true }]
  const submit = async (event: Event) => {
    event.preventDefault()
    const form = event.currentTarget as HTMLFormElement
    setError(undefined)
    let value: any
    try {
      const values: Record<string, unknown> = {}
      for (const field of fields) {
        const element = form.elements.namedItem(field.name) as HTMLInputElement
        const read_ = read(field.kind, element.value, element.checked)
        if (read_ !== undefined) values[field.name] = read_
      }
      value = isObject ? values : values.value
    } catch (e) {
      setError(`not valid JSON: ${e instanceof Error ? e.message : String(e)}`)
      return
    }
    setBusy(true)
    try {
      await props.onSubmit(value)
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e))
    } finally {
      setBusy(false)
    }
  }
  return (
    <form class="schema-form" data-testid={props.testid} onSubmit={submit}>
      {fields.map((field) => (
        <Input key={field.name} field={field} id={`${prefix}-${field.name}`} />
      ))}
      <button type="submit" disabled={busy}>
        {props.submit}
      </button>
      {error === undefined ? null : (
        <p class="error" data-testid="form-error">
          {error}
        </p>
      )}
    </form>
  )
}
