#version 330 core
// The output level (master fader): drawn last over the whole output with blending
// (ZERO, SRC_COLOR), so each pixel becomes pixel * level: 0 is black, alpha stays as it was.

uniform float level;  // 0..1

out vec4 frag;

void main() {
    frag = vec4(vec3(level), 1.0);
}
