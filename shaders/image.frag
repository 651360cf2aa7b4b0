#version 330 core
// The generator's frame, optionally cross-faded from the previous one. Output is opaque:
// the frame's alpha is ignored so a stage window never shows through.

uniform sampler2D current;
uniform sampler2D previous;
uniform float mix_factor;  // 0 = previous only, 1 = current only

in vec2 uv;
out vec4 color;

void main() {
    vec3 now = texture(current, uv).rgb;
    vec3 before = texture(previous, uv).rgb;
    color = vec4(mix(before, now, mix_factor), 1.0);
}
