/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Flow-field lines: the streamlines of a slowly churning flow, drawn as fine lines whose colour follows the flow's direction. The lines are level lines of a stream function, so they never cross and never end.",
    "CREDIT": "live project",
    "CATEGORIES": ["Generator", "Pattern"],
    "INPUTS": [
        {"NAME": "scale", "TYPE": "float", "LABEL": "Scale (swirls across the height)", "MIN": 0.5, "MAX": 8.0, "DEFAULT": 2.0},
        {"NAME": "speed", "TYPE": "float", "LABEL": "Speed", "MIN": 0.0, "MAX": 2.0, "DEFAULT": 0.25},
        {"NAME": "lineDensity", "TYPE": "float", "LABEL": "Line density", "MIN": 2.0, "MAX": 60.0, "DEFAULT": 18.0},
        {"NAME": "lineWidth", "TYPE": "float", "LABEL": "Line width (pixels)", "MIN": 0.5, "MAX": 6.0, "DEFAULT": 1.5},
        {"NAME": "turbulence", "TYPE": "float", "LABEL": "Turbulence", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.4},
        {"NAME": "colorA", "TYPE": "color", "LABEL": "Colour one way", "DEFAULT": [0.1, 0.9, 1.0, 1.0]},
        {"NAME": "colorB", "TYPE": "color", "LABEL": "Colour the other way", "DEFAULT": [1.0, 0.2, 0.7, 1.0]},
        {"NAME": "backgroundColor", "TYPE": "color", "LABEL": "Background colour", "DEFAULT": [0.0, 0.0, 0.03, 1.0]}
    ]
}*/

// Cost: no texture fetches; a few sines per pixel. The flow is (d/dy, -d/dx) of the stream
// function below, so its streamlines are the stream function's level lines: drawn with
// fract() and fwidth(), no particles, no integration steps.

float streamFunction(vec2 p, float t) {
    float value = sin(p.x * 1.1 + t) * cos(p.y * 0.9 - t * 0.7)
                + 0.6 * sin(p.x * 0.5 - p.y * 1.3 + t * 0.5)
                + 0.8 * cos(length(p - vec2(sin(t * 0.3) * 2.0, cos(t * 0.4) * 1.5)) * 1.2 - t);
    value += turbulence * 0.35 * sin(p.x * 3.1 + p.y * 2.3 - t * 1.7) * sin(p.y * 2.9 - t * 1.3);
    return value;
}

void main() {
    float aspect = RENDERSIZE.x / RENDERSIZE.y;
    vec2 p = (isf_FragNormCoord - 0.5) * vec2(aspect, 1.0) * scale * 3.14159;
    float t = TIME * speed;
    float psi = streamFunction(p, t);
    vec2 gradient = vec2(dFdx(psi), dFdy(psi));
    float level = psi * lineDensity * 0.25;
    float toLine = abs(fract(level + 0.5) - 0.5);  // 0 on a line, 0.5 halfway between
    float pixels = toLine / max(fwidth(level), 1e-4);  // that distance in screen pixels
    float line = 1.0 - smoothstep(lineWidth * 0.5 - 0.5, lineWidth * 0.5 + 0.5, pixels);
    // colour by the flow's heading (perpendicular to the gradient)
    float heading = atan(-gradient.x, gradient.y);
    vec3 ink = mix(colorA.rgb, colorB.rgb, 0.5 + 0.5 * sin(heading));
    gl_FragColor = vec4(mix(backgroundColor.rgb, ink, line), 1.0);
}
