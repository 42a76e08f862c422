#version 330 core
// The finished picture (render size) scaled to the output (output size), with the crossfade
// from the frame held when a cut was asked to fade.
#ifndef FADE
#define FADE 0
#endif
in vec2 image_uv;
out vec4 colour;

uniform sampler2D picture;
uniform sampler2D held;
uniform float fade;             // 0 = all `held`, 1 = all new (with FADE)

void main() {
    vec3 rgb = texture(picture, image_uv).rgb;
#if FADE
    rgb = mix(texture(held, image_uv).rgb, rgb, fade);
#endif
    colour = vec4(rgb, 1.0);
}
