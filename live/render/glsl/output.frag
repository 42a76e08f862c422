#version 330 core
// The finished picture (render size) scaled to the output (output size), with the crossfade
// from the frame held when a cut was asked to fade, then the master fader and the flash.
// A tile shows only its part of the render target (`crop`: the guard band is cut off).
#ifndef FADE
#define FADE 0
#endif
in vec2 image_uv;
out vec4 colour;

uniform vec4 crop;              // the tile inside the render target (0, 0, 1, 1 untiled)
uniform sampler2D picture;
uniform sampler2D held;
uniform float fade;             // 0 = all `held`, 1 = all new (with FADE)
uniform float master;           // the master fader: over every layer
uniform float flash;            // toward white, over every layer

void main() {
    vec2 uv = crop.xy + image_uv * crop.zw;
    vec3 rgb = texture(picture, uv).rgb;
#if FADE
    rgb = mix(texture(held, uv).rgb, rgb, fade);
#endif
    colour = vec4(mix(rgb * master, vec3(1.0), flash), 1.0);
}
