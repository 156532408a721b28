// Renders an Ollama Modelfile TEMPLATE with Go's text/template the way Ollama's server does (template/template.go:
// the values it hands a template, the funcs it adds), so tests can compare it with the jinja rendering.
// Input on stdin: {"template": "...", "messages": [Ollama /api/chat messages], "tools": [Ollama /api/chat tools]}.
// Written for this project from Ollama's documented behaviour; the types mirror the fields a template can see.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/template"
)

type propertyType []string

func (p *propertyType) UnmarshalJSON(data []byte) error {
	var one string
	if json.Unmarshal(data, &one) == nil {
		*p = []string{one}
		return nil
	}
	var many []string
	err := json.Unmarshal(data, &many)
	*p = many
	return err
}

func (p propertyType) MarshalJSON() ([]byte, error) {
	if len(p) == 1 {
		return json.Marshal(p[0])
	}
	return json.Marshal([]string(p))
}

// Ollama keeps nested properties in an ordered map; a template reaches them through ToMap (a plain map).
type propertiesMap struct{ m map[string]toolProperty }

func (p *propertiesMap) UnmarshalJSON(data []byte) error { return json.Unmarshal(data, &p.m) }
func (p *propertiesMap) ToMap() map[string]toolProperty { return p.m }

type toolProperty struct {
	AnyOf       []toolProperty `json:"anyOf,omitempty"`
	Type        propertyType   `json:"type,omitempty"`
	Items       any            `json:"items,omitempty"`
	Description string         `json:"description,omitempty"`
	Enum        []any          `json:"enum,omitempty"`
	Properties  *propertiesMap `json:"properties,omitempty"`
	Required    []string       `json:"required,omitempty"`
}

type toolParameters struct {
	Type       string                  `json:"type"`
	Defs       any                     `json:"$defs,omitempty"`
	Items      any                     `json:"items,omitempty"`
	Required   []string                `json:"required,omitempty"`
	Properties map[string]toolProperty `json:"properties"`
}

type tool struct {
	Type     string `json:"type"`
	Items    any    `json:"items,omitempty"`
	Function struct {
		Name        string         `json:"name"`
		Description string         `json:"description"`
		Parameters  toolParameters `json:"parameters"`
	} `json:"function"`
}

type toolCall struct {
	ID       string `json:"id"`
	Function struct {
		Index     int            `json:"index"`
		Name      string         `json:"name"`
		Arguments map[string]any `json:"arguments"`
	} `json:"function"`
}

type message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	Thinking   string     `json:"thinking"`
	Images     []string   `json:"images"`
	ToolCalls  []toolCall `json:"tool_calls"`
	ToolName   string     `json:"tool_name"`
	ToolCallID string     `json:"tool_call_id"`
}

// Ollama's template funcs (template/template.go); toTypeScriptType is left out: these templates do not use it.
var funcs = template.FuncMap{
	"json": func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	},
}

func main() {
	var in struct {
		Template string    `json:"template"`
		Messages []message `json:"messages"`
		Tools    []tool    `json:"tools"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail(err)
	}
	tmpl, err := template.New("").Option("missingkey=zero").Funcs(funcs).Parse(in.Template)
	if err != nil {
		fail(err)
	}
	// Ollama's collate: system messages also joined into .System; consecutive messages of one role (but tool)
	// merged with a blank line.
	var system []string
	var messages []*message
	for i := range in.Messages {
		m := &in.Messages[i]
		if m.Role == "system" {
			system = append(system, m.Content)
		}
		if n := len(messages); n > 0 && messages[n-1].Role == m.Role && m.Role != "tool" {
			messages[n-1].Content += "\n\n" + m.Content
		} else {
			messages = append(messages, m)
		}
	}
	var tools []tool
	if len(in.Tools) > 0 {
		tools = in.Tools
	}
	values := map[string]any{"System": strings.Join(system, "\n\n"), "Messages": messages, "Tools": tools,
		"Response": "", "Think": false, "ThinkLevel": "", "IsThinkSet": false}
	if err := tmpl.Execute(os.Stdout, values); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
